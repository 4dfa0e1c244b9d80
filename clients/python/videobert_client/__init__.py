"""A client for videobert-serve.

    from videobert_client import Client
    client = Client("http://localhost:8000")
    print(client.classify("clip.mp4")["video_labels"])
"""

from videobert_client.client import AsyncClient, Client, RetryPolicy
from videobert_client.errors import VideoBertError

__all__ = ["AsyncClient", "Client", "RetryPolicy", "VideoBertError"]
