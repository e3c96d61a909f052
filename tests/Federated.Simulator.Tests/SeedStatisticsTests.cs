using Federated.Simulator.Reporting;

namespace Federated.Simulator.Tests;

public sealed class SeedStatisticsTests
{
    /// <summary>
    /// Reference numbers from numpy (the t quantiles t(0.975, n-1) are the standard table values, R's qt(0.975, n - 1)):
    /// /usr/bin/python3 -c "import numpy as np; m,r,t=[2.101,2.087,2.113,2.095,2.120],[2.089,2.091,2.092,2.086,2.105],2.7764451051977987;
    ///   d=np.array(m)-np.array(r); n=len(d); h=t*d.std(ddof=1)/np.sqrt(n); print(repr(d.mean()), repr(d.mean()-h), repr(d.mean()+h))"
    /// </summary>
    [Theory]
    [InlineData(new[] { 2.101, 2.087, 2.113, 2.095, 2.120 }, new[] { 2.089, 2.091, 2.092, 2.086, 2.105 }, 0.010600000000000076, -0.0009347845453120361, 0.02213478454531219, false)]
    [InlineData(new[] { 0.31, 0.28, 0.335 }, new[] { 0.30, 0.30, 0.32 }, 0.0016666666666666867, -0.04535730127792044, 0.04869063461125381, false)]
    [InlineData(new[] { 0.40, 0.42, 0.39, 0.41 }, new[] { 0.35, 0.36, 0.36, 0.37 }, 0.04500000000000001, 0.024457397432391222, 0.0655426025676088, true)]
    public void The_paired_95_percent_t_interval_matches_numpy(double[] method, double[] reference, double mean, double lower, double upper, bool difference)
    {
        var interval = SeedStatistics.Paired(method.Zip(reference));

        Assert.NotNull(interval);
        Assert.Equal(method.Length, interval.N);
        Assert.Equal(mean, interval.Mean, 12);
        Assert.Equal(lower, interval.Lower, 9);
        Assert.Equal(upper, interval.Upper, 9);
        Assert.Equal(difference, interval.ExcludesZero);
    }

    [Fact]
    public void One_pair_has_no_interval_and_a_run_without_the_metric_is_left_out()
    {
        Assert.Null(SeedStatistics.Paired([(1.0, 0.5)]));
        Assert.Null(SeedStatistics.Paired([(1.0, 0.5), (double.NaN, 0.4)]));
    }

    [Fact]
    public void Mean_and_sample_standard_deviation_over_seeds_match_numpy()
    {
        // /usr/bin/python3 -c "import numpy as np; a=np.array([2.101,2.087,2.113,2.095,2.120]); print(repr(a.mean()), repr(a.std(ddof=1)))"
        var summary = SeedStatistics.Summarise([2.101, 2.087, 2.113, 2.095, 2.120, double.NaN]);

        Assert.Equal(5, summary.N);
        Assert.Equal(2.1032, summary.Mean, 12);
        Assert.Equal(0.013349157276772139, summary.Sd, 9);
    }
}
