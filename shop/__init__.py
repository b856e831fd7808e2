"""What the site, the handler and the analytics tool share: shop.toml and the site's URLs."""
