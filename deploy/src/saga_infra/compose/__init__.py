"""The compose path on a real Docker engine: the engine and the compose CLI, the images
(official, or stand-ins built from Debian packages when no registry answers), and
`make compose-e2e` (`python -m saga_infra.compose --help`)."""
