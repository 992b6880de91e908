/* Stand-in for libFuzzer's main(): replays inputs through
 * LLVMFuzzerTestOneInput so the fuzz targets run as ordinary tests over
 * their seed corpora ("make check") without clang. Each argument is a
 * file or a directory (whose regular files are run, one level deep); with
 * no arguments, standard input is one input. Builds with libFuzzer do not
 * link this file. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DRIVER_MAX_INPUT (16 * 1024 * 1024)

static unsigned long ran;

/* Read all of f into a malloc'd buffer of exactly the input's size, so
 * that a target reading past the end is caught by ASan/valgrind. */
static int
run_stream(FILE *f, const char *name)
{
	size_t cap = 4096, len = 0;
	char *p = malloc(cap), *exact;

	if (p == NULL)
		return -1;
	for (;;) {
		size_t r;

		if (len == cap) {
			char *np;

			if (cap >= DRIVER_MAX_INPUT) {
				fprintf(stderr, "driver: %s: larger than %d bytes\n", name,
				        DRIVER_MAX_INPUT);
				free(p);
				return -1;
			}
			np = realloc(p, cap * 2);
			if (np == NULL) {
				free(p);
				return -1;
			}
			p = np;
			cap *= 2;
		}
		r = fread(p + len, 1, cap - len, f);
		len += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "driver: %s: read error\n", name);
		free(p);
		return -1;
	}
	exact = malloc(len ? len : 1);
	if (exact == NULL) {
		free(p);
		return -1;
	}
	memcpy(exact, p, len);
	free(p);
	LLVMFuzzerTestOneInput((const uint8_t *)exact, len);
	free(exact);
	ran++;
	return 0;
}

static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	int r;

	if (f == NULL) {
		fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
		return -1;
	}
	r = run_stream(f, path);
	fclose(f);
	return r;
}

static int
run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int ret = 0;

	if (d == NULL) {
		fprintf(stderr, "driver: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		char *path;
		size_t len;

		if (e->d_name[0] == '.')
			continue;
		len = strlen(dir) + strlen(e->d_name) + 2;
		path = malloc(len);
		if (path == NULL) {
			ret = -1;
			break;
		}
		snprintf(path, len, "%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && run_file(path) < 0)
			ret = -1;
		free(path);
	}
	closedir(d);
	return ret;
}

int
main(int argc, char **argv)
{
	int i, ret = 0;

	if (argc < 2) {
		ret = run_stream(stdin, "<stdin>");
	} else {
		for (i = 1; i < argc; i++) {
			struct stat st;

			if (stat(argv[i], &st) < 0) {
				fprintf(stderr, "driver: %s: %s\n", argv[i], strerror(errno));
				ret = -1;
			} else if (S_ISDIR(st.st_mode)) {
				if (run_dir(argv[i]) < 0)
					ret = -1;
			} else if (run_file(argv[i]) < 0) {
				ret = -1;
			}
		}
	}
	printf("%s: ran %lu inputs\n", argv[0], ran);
	return ret < 0 ? 1 : 0;
}
