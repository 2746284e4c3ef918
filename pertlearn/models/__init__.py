"""The CVAE architectures and classifiers. Importing this package registers every architecture it defines."""
from . import mnist, cifar, illumination, pairs, classifiers
