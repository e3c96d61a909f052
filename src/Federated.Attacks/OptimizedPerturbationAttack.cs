using TorchSharp;
using static TorchSharp.torch;

namespace Federated.Attacks;

/// <summary>
/// The optimisation framework of Shejwalkar &amp; Houmansadr (NDSS'21): x = mu - gamma d over the honest
/// dW of the whole adapter, with the largest gamma that keeps x inside the honest updates' spread by a
/// distance criterion. gamma is found by the paper's bisection: start at 10, step halving, to 1e-5;
/// so gamma stays below 20, which caps the attack when the honest spread is large compared with d.
/// </summary>
public abstract class OptimizedPerturbationAttack(PerturbationDirection direction) : DeltaSpaceAttack
{
    public const double InitialGamma = 10;
    public const double GammaPrecision = 1e-5;

    public PerturbationDirection Direction => direction;

    /// <summary>What the rule limits, from the squared distances ||x - x_i||^2 of x to each honest update.</summary>
    protected abstract double Criterion(double[] distancesToHonest);

    /// <summary>The limit, from the honest updates' pairwise squared distances ||x_i - x_j||^2.</summary>
    protected abstract double Bound(double[,] honestDistances);

    public override Tensor CraftDelta(AttackContext context)
    {
        using var scope = NewDisposeScope();
        var (mu, deviation, gamma) = Solve(context);
        using var step = gamma.ToScalar(); // held to the end of the calls (HeldScalars)
        return (mu - deviation.mul(step)).MoveToOuterDisposeScope();
    }

    /// <summary>The gamma the bisection settles on for this context (0 when even a tiny shift fails).</summary>
    public double Gamma(AttackContext context)
    {
        using var scope = NewDisposeScope();
        return Solve(context).Gamma;
    }

    (Tensor Mu, Tensor Deviation, double Gamma) Solve(AttackContext context)
    {
        var honest = HonestStatistics.Stack(context, Name, minimum: direction == PerturbationDirection.StandardDeviation ? 2 : 1);
        var mu = HonestStatistics.Mean(honest);
        var centred = honest - mu; // shared by the std and the distances below
        var deviation = direction switch
        {
            PerturbationDirection.StandardDeviation => HonestStatistics.Std(centred),
            PerturbationDirection.UnitVector => mu / mu.norm(),
            PerturbationDirection.Sign => mu.sign(),
            _ => throw new ArgumentOutOfRangeException(nameof(direction), direction, null),
        };
        // Centred on mu, ||x - x_i||^2 = gamma^2 ||d||^2 + 2 gamma <d, c_i> + ||c_i||^2 with c_i = x_i - mu,
        // so each bisection step is O(n) and nothing cancels between the large shared mean and x_i.
        double deviationSquared = deviation.dot(deviation).item<double>();
        double[] projections = centred.matmul(deviation).data<double>().ToArray();
        var gram = centred.matmul(centred.t());
        int n = projections.Length;
        double[] gramValues = gram.data<double>().ToArray();
        var honestDistances = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                honestDistances[i, j] = Math.Max(0, gramValues[i * n + i] + gramValues[j * n + j] - 2 * gramValues[i * n + j]);
        double bound = Bound(honestDistances);

        bool Fits(double gamma) => Criterion(Enumerable.Range(0, n)
            .Select(i => gamma * gamma * deviationSquared + 2 * gamma * projections[i] + gramValues[i * n + i]).ToArray()) <= bound;

        return (mu, deviation, Bisect(Fits));
    }

    /// <summary>The paper's search: from gamma = 10, step up on success and down on failure, halving the step.</summary>
    static double Bisect(Func<double, bool> fits)
    {
        double candidate = InitialGamma, step = InitialGamma, found = 0;
        while (Math.Abs(found - candidate) > GammaPrecision)
        {
            if (fits(candidate))
            {
                found = candidate;
                candidate += step / 2;
            }
            else
                candidate -= step / 2;
            step /= 2;
        }
        return found;
    }
}
