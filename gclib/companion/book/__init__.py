"""The book: generated pages (figure records, scorecard, gallery, tables) and the Jupyter Book build."""
