"""The Docker Engine adapter (docker-py lives only in this package); see `engine`."""

from services.docker_engine.engine import DEFAULT_SOCKET, DockerEngine
from services.docker_engine.events import ClientFactory
from services.docker_engine.mapping import spec_to_create_kwargs

__all__ = ["DEFAULT_SOCKET", "ClientFactory", "DockerEngine", "spec_to_create_kwargs"]
