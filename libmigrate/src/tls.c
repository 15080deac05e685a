/* tls.c - placeholder until written */
