/* diorama — the JSON graph and the pipeline runner (being written). */
#ifndef DIORAMA_GRAPH_H
#define DIORAMA_GRAPH_H
#endif
