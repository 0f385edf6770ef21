/* The practical limit for one trajectory: torch-form Adam on Rosenbrock in
 * plain C, recording every point and loss, as the benchmark's reference.
 * Usage: adam_rosenbrock STEPS REPEATS -> prints the best ns per step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double run(long steps, double *points, double *losses) {
    const double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    double x[2] = {-1.2, 1.0}, m[2] = {0, 0}, v[2] = {0, 0}, g[2];
    double beta1_power = 1.0, beta2_power = 1.0;
    for (long k = 0; k < steps; k++) {
        double a = 1.0 - x[0], b = x[1] - x[0] * x[0];
        losses[k] = a * a + 100.0 * b * b;
        g[0] = -2.0 * a - 400.0 * x[0] * b;
        g[1] = 200.0 * b;
        beta1_power *= beta1;
        beta2_power *= beta2;
        double step_size = lr / (1.0 - beta1_power);
        double bc2_sqrt = sqrt(1.0 - beta2_power);
        for (int i = 0; i < 2; i++) {
            m[i] = m[i] + (1.0 - beta1) * (g[i] - m[i]);
            v[i] = v[i] * beta2 + (1.0 - beta2) * g[i] * g[i];
            x[i] = x[i] - step_size * (m[i] / (sqrt(v[i]) / bc2_sqrt + eps));
        }
        points[2 * k + 2] = x[0];
        points[2 * k + 3] = x[1];
    }
    return x[0] + x[1];
}

int main(int argc, char **argv) {
    long steps = argc > 1 ? atol(argv[1]) : 100000;
    int repeats = argc > 2 ? atoi(argv[2]) : 5;
    double *points = calloc(2 * (steps + 1), sizeof(double));
    double *losses = calloc(steps + 1, sizeof(double));
    double best = 1e30, sink = 0;
    for (int r = 0; r < repeats; r++) {
        double t = now();
        sink += run(steps, points, losses);
        t = now() - t;
        if (t < best) best = t;
    }
    printf("%.3f %.17g\n", best / steps * 1e9, sink);
    return 0;
}
