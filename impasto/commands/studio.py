"""`impasto studio`: serve a project folder as a page where looks are steered and compared by eye."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import typer

from impasto.commands.common import app, command_errors, err
from impasto.errors import UsageError

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, so a busy port is one sentence and --port 0 can print the port it got."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"Cannot listen on host '{host}' ({exc.strerror or exc}).") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(f"Cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port.") from None
    sock.set_inheritable(True)
    return sock


@app.command()
def studio(
    folder: Path = typer.Argument(Path("."), help="The project folder: its images, look files, sweeps and shots."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port to serve on (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; the default lets only this machine in."),
    device: str = typer.Option("auto", "--device", help="Where previews render: auto, cpu, cuda, cuda:N or mps."),
    max_upload_mb: int = typer.Option(64, "--max-upload-mb", min=1, max=4096, help="Largest style image the page may upload."),
) -> None:
    """Serve FOLDER as a look-development page: u slider, previews, contact sheets, wipes, look files, shot status."""
    with command_errors():
        try:  # deferred: FastAPI and uvicorn are an optional extra (impasto[studio])
            import uvicorn

            from impasto.studio.app import create_app
        except ImportError as exc:
            raise UsageError(f"The studio needs FastAPI and uvicorn ({exc.name} is missing): pip install 'impasto[studio]'.") from None
        if not folder.is_dir():
            raise UsageError(f"Project folder '{folder}' does not exist or is not a folder.")
        # Listening locally, answer only local names: a web page cannot then reach the studio by DNS rebinding.
        hosts = ["127.0.0.1", "localhost", "[::1]", "::1"] if _is_loopback(host) else None
        web = create_app(folder, device=device, max_upload_bytes=max_upload_mb * 2**20, allowed_hosts=hosts)
        sock = _bind(host, port)
    if not _is_loopback(host):
        err.print(
            f"[bold yellow]warning:[/] --host {host} lets anyone who can reach this machine open the studio, see the "
            "folder's images and write look files into it; use it only on a trusted network.",
            highlight=False, soft_wrap=True,
        )
    bound = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    typer.echo(f"impasto studio: serving {folder.resolve()} at http://{shown}:{bound}/ (previews on {web.state.queue.device}; Ctrl+C stops)")
    server = uvicorn.Server(uvicorn.Config(web, log_level="warning", lifespan="on"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
