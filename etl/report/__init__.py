"""The weekly report: views over the warehouse -> typed model -> HTML, email, text, JSON, CSV."""
