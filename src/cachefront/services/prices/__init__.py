"""The prices room: latest prices, batches and long history for assets from Binance and Yahoo."""

__all__: list[str] = []
