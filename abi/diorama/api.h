/* diorama — the export marker of libdiorama's application API, shared by its headers. */
#ifndef DIORAMA_API_H
#define DIORAMA_API_H

#if defined(_WIN32)
#define DIO_API __declspec(dllexport)
#else
#define DIO_API __attribute__((visibility("default")))
#endif

#endif
