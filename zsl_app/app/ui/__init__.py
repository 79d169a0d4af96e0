"""The web app. layout.py builds and serves it; one module per tab (predict, classes, train, evaluate)
holds the tab's components and handlers; state.py is what the tabs share, training.py the training job,
uploads.py and messages.py what comes in from a client and what goes back to it."""
