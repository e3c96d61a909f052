namespace Federated.Attacks;

/// <summary>
/// min-max (NDSS'21): the largest gamma with max_i ||x - x_i||^2 &lt;= max_{i,j} ||x_i - x_j||^2, so x is
/// no farther from any honest update than the two farthest honest updates are from each other.
/// </summary>
public sealed class MinMaxAttack(PerturbationDirection direction = PerturbationDirection.StandardDeviation)
    : OptimizedPerturbationAttack(direction)
{
    public override string Name => "min-max";

    protected override double Criterion(double[] distancesToHonest) => distancesToHonest.Max();

    protected override double Bound(double[,] honestDistances) => honestDistances.Cast<double>().Max();
}
