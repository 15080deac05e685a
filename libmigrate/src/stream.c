/* stream.c - placeholder until written */
