"""Audience expansion: the ranked look-alike audience of a new campaign
from its seed users (``expansion``), the campaigns read from files
(``sources``) and the files written (``output``)."""
