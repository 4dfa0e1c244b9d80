"""Pure-torch model code: backbones, temporal encoder, heads, and the model store.

Takes plain arguments (no settings, HTTP or Redis), so notebooks, the CLI, training and the
service share it. ``load_model`` is the entry point.
"""

from app.model.manifest import Manifest, read_manifest
from app.model.store import (
    LoadedModel,
    backbone_archs,
    list_models,
    load_model,
    register_backbone,
)
from app.model.videobert import Precision, SequenceOutput, VideoBert

__all__ = [
    "LoadedModel",
    "Manifest",
    "Precision",
    "SequenceOutput",
    "VideoBert",
    "backbone_archs",
    "list_models",
    "load_model",
    "read_manifest",
    "register_backbone",
]
