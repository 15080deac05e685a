/* address.c - placeholder until written */
