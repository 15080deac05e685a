/* stream_fd.c - placeholder until written */
