/* The physical floor for launching short jobs: fork + execve + waitpid of a program, N times,
 * with at most P in flight. Usage: spawn_floor N P PROGRAM. Prints the wall time in seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s N P PROGRAM\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[1]), p = atoi(argv[2]);
    char *const args[] = {argv[3], NULL};
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int started = 0, running = 0;
    while (started < n || running > 0) {
        while (running < p && started < n) {
            pid_t pid = fork();
            if (pid == 0) {
                execv(argv[3], args);
                _exit(127);
            }
            started++;
            running++;
        }
        int status;
        if (wait(&status) > 0) running--;
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    printf("%.6f\n", (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9);
    return 0;
}
