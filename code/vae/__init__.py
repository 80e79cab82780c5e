"""A Variational Autoencoder on MNIST and Fashion-MNIST, one module per chapter of the report:
data, models, losses, training, evaluation, figures, report."""

__version__ = "0.1.0"
