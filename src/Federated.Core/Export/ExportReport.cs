using System.Text.Json;
using System.Text.Json.Serialization;
using Federated.Core.Adapters;

namespace Federated.Core.Export;

/// <summary>
/// What an export of a federation's delta history kept: per module the stacked and kept ranks and how much of the
/// cumulative update survived, so a user can judge a truncated artifact without the history. Serialised as camelCase
/// JSON: <c>export_report.json</c> beside an adapter directory, or payload metadata (<see cref="ExportFiles"/>).
/// </summary>
/// <param name="Mode">exact, truncated or vllm.</param>
/// <param name="Rank">The rank asked for or chosen; null for an exact export.</param>
/// <param name="MaxErrorBound">The relative error bound a vllm export was chosen under; null otherwise.</param>
/// <param name="Deltas">How many deltas the history held.</param>
/// <param name="MaxRelativeError">The largest per-module ||dW - dW_r||_F / ||dW||_F.</param>
/// <param name="HistoryParameters">Factor parameters of all deltas together.</param>
/// <param name="StackedParameters">Factor parameters of the exact export (every delta's factors side by side).</param>
/// <param name="ExportedParameters">Factor parameters of this export.</param>
/// <param name="VllmMaxLoraRank">The smallest max_lora_rank vLLM needs to serve this export; null above its largest.</param>
public sealed record ExportReport(
    string Mode, int? Rank, double? MaxErrorBound, int Deltas, IReadOnlyList<ModuleExportReport> Modules,
    double MaxRelativeError, long HistoryParameters, long StackedParameters, long ExportedParameters, int? VllmMaxLoraRank)
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <exception cref="JsonException">Malformed or not a report.</exception>
    public static ExportReport Parse(string json) =>
        JsonSerializer.Deserialize<ExportReport>(json, Json) ?? throw new JsonException("the export report is null");

    internal static ExportReport Create(string mode, int? rank, double? bound, IReadOnlyList<LoraAdapter> deltas, IReadOnlyList<ModuleExportReport> modules) => new(
        mode, rank, bound, deltas.Count, modules,
        MaxRelativeError: modules.Max(m => m.RelativeError),
        HistoryParameters: deltas.Sum(d => d.ParameterCount), StackedParameters: modules.Sum(m => m.ParametersAt(m.StackedRank)),
        ExportedParameters: modules.Sum(m => m.ParametersAt(m.KeptRank)),
        VllmMaxLoraRank: VllmRanks.AtLeast(modules.Max(m => m.KeptRank)));
}

/// <summary>One module of an <see cref="ExportReport"/>.</summary>
/// <param name="StackedRank">The sum of the deltas' ranks on this module: the exact export's rank.</param>
/// <param name="KeptRank">The rank exported.</param>
/// <param name="RetainedEnergy">sum_{i&lt;r} s_i^2 / sum s_i^2 over the cumulative update's singular values (1 for a zero update).</param>
/// <param name="RelativeError">||dW - dW_r||_F / ||dW||_F = sqrt(1 - energy), from the discarded tail so that small errors keep their digits.</param>
/// <param name="Method">stacked (exact, no SVD), factored (FLoRIST, from the factors) or dense (SVD of the d_out x d_in sum).</param>
public sealed record ModuleExportReport(
    string Name, int OutFeatures, int InFeatures, int StackedRank, int KeptRank, double RetainedEnergy, double RelativeError, string Method)
{
    internal long ParametersAt(int rank) => (long)rank * (OutFeatures + InFeatures);
}
