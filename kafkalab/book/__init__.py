"""The book: the site build, figures, widget panels and exercise checkers."""
