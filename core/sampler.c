/* libdiorama — samplers by name (being written). */
