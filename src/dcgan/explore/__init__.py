"""`dcgan explore`: a latent-space explorer in the browser, served from this machine.

`Engine` generates (samples, walks, arithmetic, directions), `server` speaks HTTP and JSON,
`static/` holds the page (plain HTML and JavaScript, no third-party code).
"""

from dcgan.explore.engine import Engine
from dcgan.explore.server import make_server

__all__ = ["Engine", "make_server"]
