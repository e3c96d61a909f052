using Federated.Training.Evaluation;

namespace Federated.Simulator.Reporting;

/// <summary>One row of a run's metrics.csv. Round 0 is the base model before any federated training.</summary>
/// <param name="Refused">Updates the coordinator's admission check refused at upload (never submitted).</param>
public sealed record RoundMetrics(
    int Round,
    string Status,
    int Selected,
    int Submitted,
    int Accepted,
    int Rejected,
    int Dropped,
    int Late,
    int AttackersSubmitted,
    int AttackersExcluded,
    double TrainLoss,
    double EvalLoss,
    double ClientEvalLoss,
    int GlobalRank,
    double RoundSeconds,
    double AggregationSeconds,
    int Refused = 0,
    MultipleChoiceResult? Task = null,
    double TaskSeconds = 0)
{
    public double EvalPerplexity => Math.Exp(EvalLoss);

    /// <summary>The task accuracy in one direction; NaN in rounds where the task was not evaluated.</summary>
    public double TaskAccuracy(ChoiceDirection direction) => Task?[direction].Accuracy.Value ?? double.NaN;

    public static readonly string[] Columns =
    [
        "round", "status", "selected", "submitted", "accepted", "rejected", "refused", "dropped", "late", "attackers_submitted", "attackers_excluded",
        "train_loss", "eval_loss", "eval_perplexity", "client_eval_loss", "global_rank", "round_seconds", "aggregation_seconds",
        "task_word_to_definition", "task_word_to_definition_lower", "task_word_to_definition_upper",
        "task_definition_to_word", "task_definition_to_word_lower", "task_definition_to_word_upper", "task_items", "task_seconds",
    ];

    public IEnumerable<string> Values()
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        return
        [
            Round.ToString(c), Status, Selected.ToString(c), Submitted.ToString(c), Accepted.ToString(c), Rejected.ToString(c), Refused.ToString(c),
            Dropped.ToString(c), Late.ToString(c), AttackersSubmitted.ToString(c), AttackersExcluded.ToString(c),
            TrainLoss.ToString("G6", c), EvalLoss.ToString("G6", c), EvalPerplexity.ToString("G6", c), ClientEvalLoss.ToString("G6", c),
            GlobalRank.ToString(c), RoundSeconds.ToString("F3", c), AggregationSeconds.ToString("F3", c),
            .. Enum.GetValues<ChoiceDirection>().SelectMany(d => Task?[d].Accuracy is { } a
                ? new[] { a.Value, a.Lower, a.Upper } : [double.NaN, double.NaN, double.NaN]).Select(v => v.ToString("G6", c)),
            (Task?.Directions.Sum(d => d.Accuracy.Trials) ?? 0).ToString(c), TaskSeconds.ToString("F3", c),
        ];
    }
}
