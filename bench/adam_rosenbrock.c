/* The practical limit for one trajectory: torch-form Adam on Rosenbrock in
 * plain C, as the benchmark's reference. Like core.Run it records every
 * point, loss, gradient, learning rate and both moments into buffers it
 * allocates for the run, so both sides pay for the same memory.
 * Usage: adam_rosenbrock STEPS REPEATS -> prints the median ns per step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double run(long steps) {
    const double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    double *points = calloc(2 * (steps + 1), sizeof(double));
    double *losses = calloc(steps + 1, sizeof(double));
    double *grads = calloc(2 * steps, sizeof(double));
    double *moments = calloc(4 * steps, sizeof(double));
    double *lrs = calloc(steps, sizeof(double));
    /* Scalars, not arrays, so the compiler keeps the whole state in registers. */
    double x0 = -1.2, x1 = 1.0, m0 = 0, m1 = 0, v0 = 0, v1 = 0;
    double beta1_power = 1.0, beta2_power = 1.0;
    points[0] = x0;
    points[1] = x1;
    for (long k = 0; k < steps; k++) {
        double a = 1.0 - x0, b = x1 - x0 * x0;
        losses[k] = a * a + 100.0 * b * b;
        double g0 = -2.0 * a - 400.0 * x0 * b, g1 = 200.0 * b;
        beta1_power *= beta1;
        beta2_power *= beta2;
        double step_size = lr / (1.0 - beta1_power);
        double bc2_sqrt = sqrt(1.0 - beta2_power);
        m0 = m0 + (1.0 - beta1) * (g0 - m0);
        m1 = m1 + (1.0 - beta1) * (g1 - m1);
        v0 = v0 * beta2 + (1.0 - beta2) * g0 * g0;
        v1 = v1 * beta2 + (1.0 - beta2) * g1 * g1;
        x0 = x0 - step_size * (m0 / (sqrt(v0) / bc2_sqrt + eps));
        x1 = x1 - step_size * (m1 / (sqrt(v1) / bc2_sqrt + eps));
        grads[2 * k] = g0;
        grads[2 * k + 1] = g1;
        moments[2 * k] = m0;
        moments[2 * k + 1] = m1;
        moments[2 * steps + 2 * k] = v0;
        moments[2 * steps + 2 * k + 1] = v1;
        lrs[k] = lr;
        points[2 * k + 2] = x0;
        points[2 * k + 3] = x1;
    }
    double sink = x0 + x1 + losses[steps / 2] + grads[steps] + moments[steps] + lrs[steps - 1];
    free(points);
    free(losses);
    free(grads);
    free(moments);
    free(lrs);
    return sink;
}

int main(int argc, char **argv) {
    long steps = argc > 1 ? atol(argv[1]) : 100000;
    int repeats = argc > 2 ? atoi(argv[2]) : 5;
    if (steps < 2 || repeats < 1) return 2;
    double *times = malloc(repeats * sizeof(double)), sink = 0;
    for (int r = 0; r < repeats; r++) {
        double t = now();
        sink += run(steps);
        times[r] = now() - t;
    }
    qsort(times, repeats, sizeof(double), by_value);
    printf("%.3f %.17g\n", times[repeats / 2] / steps * 1e9, sink);
    free(times);
    return 0;
}
