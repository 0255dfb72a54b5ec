"""`bigprior app`: a local web page over the restore pipeline (the optional `app` extra: gradio).

`cli.py` parses the flags and starts the server, `server.py` lays out the page (the only module that
imports gradio), `session.py` keeps each visitor's photo, restoration and files apart and runs the very
functions `bigprior restore` runs, `models.py` finds the models a person may pick.
"""
