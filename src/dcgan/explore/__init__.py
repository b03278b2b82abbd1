"""`dcgan explore`: a latent-space explorer in the browser, served from this machine.

`Engine` generates (samples, walks, arithmetic, directions), `server` speaks HTTP and JSON,
`static/` holds the page (plain HTML and JavaScript, no third-party code). `site` writes the
page as a static site (`dcgan export --out-format site`), where `static/site.js` answers its
requests in the browser with onnxruntime-web.
"""

from dcgan.explore.engine import Engine
from dcgan.explore.server import make_server

__all__ = ["Engine", "make_server"]
