"""The web app. layout.py builds and serves it; one module per tab (predict, classes, train, evaluate)
holds the tab's components and handlers; state.py is what the tabs share, models.py the list of models to
make active, training.py the training job and loss_chart.py its chart; glossary.py and setup.py are what
the page says (each term in plain words; what a fresh install lacks); uploads.py and messages.py what comes
in from a client and what goes back to it."""
