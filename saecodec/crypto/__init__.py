"""Cryptographic recipes built on the ``cryptography`` package's primitives; nothing home-made but the
logistic-map keystream, which the paper specifies and which is documented as insecure."""
