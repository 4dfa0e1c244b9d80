"""The analysis use case, below every adapter: options, bodies, the contact sheet, admission and
``Analyzer`` (the one path from a stored video to its cached answer).

    options.py        what a caller may ask (validated once, shared by HTTP, jobs and CLI)
    schemas.py        the response bodies
    bodies.py         pipeline result -> body
    analyzer.py       cache key -> single flight -> pipeline -> body
    contact_sheet.py  keyframe thumbnails -> one JPEG
    admission.py      how many analyses may run at once
"""

from app.analysis.admission import Admission
from app.analysis.analyzer import Analyzed, Analyzer, StageHook, StoredVideo, Task
from app.analysis.contact_sheet import contact_sheet, keyframe_sheet
from app.analysis.options import RequestOptions

__all__ = ["Admission", "Analyzed", "Analyzer", "RequestOptions", "StageHook",
           "StoredVideo", "Task", "contact_sheet", "keyframe_sheet"]
