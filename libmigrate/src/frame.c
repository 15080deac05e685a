/* frame.c - placeholder until written */
