namespace Federated.Training.Data.Corpora;

/// <summary>
/// Gamma and Dirichlet draws from a caller's seeded <see cref="Random"/>, so a seed pins every draw.
/// Gamma: Marsaglia and Tsang (2000), "A simple method for generating gamma variables", with their boost
/// Gamma(a) = Gamma(a + 1) * U^(1/a) for shapes below one; normals by Box-Muller.
/// </summary>
public static class DirichletSampler
{
    /// <summary>A draw from Dirichlet(concentrations): non-negative weights summing to 1.</summary>
    public static double[] Sample(Random random, IReadOnlyList<double> concentrations)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(concentrations);
        if (concentrations.Count == 0)
            throw new ArgumentException("a Dirichlet needs at least one concentration", nameof(concentrations));
        // Normalised in log space: with small concentrations every Gamma draw can underflow to 0 in doubles.
        var logs = concentrations.Select(a => LogGamma(random, a)).ToArray();
        var max = logs.Max();
        var weights = logs.Select(l => Math.Exp(l - max)).ToArray();
        var sum = weights.Sum();
        for (var i = 0; i < weights.Length; i++)
            weights[i] /= sum;
        return weights;
    }

    /// <summary>A draw from Gamma(shape, scale 1).</summary>
    public static double Gamma(Random random, double shape) => Math.Exp(LogGamma(random, shape));

    /// <summary>The logarithm of a Gamma(shape, 1) draw; finite even where the draw itself underflows.</summary>
    public static double LogGamma(Random random, double shape)
    {
        ArgumentNullException.ThrowIfNull(random);
        if (!(shape > 0) || double.IsPositiveInfinity(shape))
            throw new ArgumentOutOfRangeException(nameof(shape), shape, "a Gamma shape must be positive and finite");
        if (shape < 1)
            return LogGamma(random, shape + 1) + Math.Log(OpenUniform(random)) / shape;
        var d = shape - 1.0 / 3;
        var c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = StandardNormal(random);
                v = 1 + c * x;
            }
            while (v <= 0);
            v = v * v * v;
            var u = OpenUniform(random);
            // The squeeze accepts ~98% of draws without a logarithm; the second test is the exact one.
            if (u < 1 - 0.0331 * x * x * x * x || Math.Log(u) < 0.5 * x * x + d * (1 - v + Math.Log(v)))
                return Math.Log(d) + Math.Log(v);
        }
    }

    public static double StandardNormal(Random random) =>
        Math.Sqrt(-2 * Math.Log(OpenUniform(random))) * Math.Cos(2 * Math.PI * random.NextDouble());

    // In (0, 1]: logarithms and divisions by it stay finite.
    static double OpenUniform(Random random) => 1.0 - random.NextDouble();
}
