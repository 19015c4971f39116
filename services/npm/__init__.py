"""The Nginx Proxy Manager adapter: proxy hosts behind the ProxyManager protocol."""
