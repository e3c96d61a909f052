using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Federated.Benchmarks;

/// <summary>
/// Work per second: a case's work per operation (bytes, FLOPs) over its mean time. Work per nanosecond is
/// giga-work per second, hence GB/s or GFLOP/s. Cases without work (null) show "-".
/// </summary>
sealed class RateColumn(string name, string legend, Func<BenchmarkCase, double?> workPerOperation) : IColumn
{
    public string Id => nameof(RateColumn) + name;
    public string ColumnName => name;
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => legend;
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
        workPerOperation(benchmarkCase) is { } work && summary[benchmarkCase]?.ResultStatistics is { } stats
            ? (work / stats.Mean).ToString("F2")
            : "-";
}
