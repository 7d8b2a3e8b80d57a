"""Every method behind one interface (a registry): bicubic, TTSR adapter, SRNTT, SISR networks."""
