/* The walk the weights harnesses share: open PATH with dio_weights_open; a refusal must carry a message
 * (abort otherwise, so libFuzzer reports it); an accepted file has every tensor listed, found by name
 * and every byte of it read, then is closed. */
#ifndef DIO_FUZZ_WEIGHTS_H
#define DIO_FUZZ_WEIGHTS_H

void fuzz_weights_walk(const char *path);

#endif
