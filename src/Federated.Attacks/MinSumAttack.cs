namespace Federated.Attacks;

/// <summary>
/// min-sum (NDSS'21): the largest gamma with sum_i ||x - x_i||^2 &lt;= min_i sum_j ||x_i - x_j||^2, so x
/// is no more isolated in total than the most central honest update.
/// </summary>
public sealed class MinSumAttack(PerturbationDirection direction = PerturbationDirection.StandardDeviation)
    : OptimizedPerturbationAttack(direction)
{
    public override string Name => "min-sum";

    protected override double Criterion(double[] distancesToHonest) => distancesToHonest.Sum();

    protected override double Bound(double[,] honestDistances) =>
        Enumerable.Range(0, honestDistances.GetLength(0))
            .Min(i => Enumerable.Range(0, honestDistances.GetLength(1)).Sum(j => honestDistances[i, j]));
}
