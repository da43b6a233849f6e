"""``python -m mnist_rnn serve``: a checkpoint (or export's ONNX file alone) behind HTTP, on LitServe, with a
page to draw digits on.

- ``POST /predict``: one image (PNG, JPEG, BMP, GIF, WebP, TIFF, AVIF or HEIC; the raw body, or a multipart
  upload in a field named ``file``) -> JSON: ``class``, ``class_name``, ``probabilities``, ``prepared`` (the
  28x28 image the model saw, prepared as ``predict`` prepares it), and for one-way networks ``per_step`` (the
  probabilities after every time step) and ``per_row`` (after each image row: the page's reading view).
- ``GET /``: the page (``mnist_rnn/web/index.html``); ``GET /health``: ``ok`` once the model is loaded;
  ``GET /info``: the model's description.
- A bad request gets a 4xx answer ``{"error": "..."}`` naming the problem, and the server carries on. A
  blank image is one (422): the model would answer anyway, with a guess.

The parts: :mod:`.http` reads, checks and prepares uploads in the HTTP process and answers errors;
:mod:`.worker` runs the network in LitServe's inference worker; :mod:`.app` builds the server from the
command line's options and runs it.
"""

from mnist_rnn.serve.app import main

__all__ = ["main"]
