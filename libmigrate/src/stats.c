/* stats.c - placeholder until written */
