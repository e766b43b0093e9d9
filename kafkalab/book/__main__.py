"""`python -m kafkalab.book [--no-execute]`: build the site."""
from .site import main

main()
