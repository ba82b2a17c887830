"""Entry points: the application service, the HTTP API, the web pages and the `kaohe` command line."""
