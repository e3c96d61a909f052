using System.Text;

namespace Federated.Training.Evaluation;

/// <summary>
/// Scores multiple-choice items by length-normalised log-likelihood: each option's score is the log-probability of its
/// tokens given the prompt divided by its length in UTF-8 bytes (nats per byte), so long options are not punished for
/// having more tokens to pay for, and the measure does not depend on the tokenizer; the highest score is the model's
/// choice (the first one on an exact tie).
/// </summary>
public static class MultipleChoiceScorer
{
    /// <summary>Nats per byte of the option: the length-normalised log-likelihood.</summary>
    public static double NormalisedScore(double logLikelihood, string option)
    {
        ArgumentException.ThrowIfNullOrEmpty(option);
        return logLikelihood / Encoding.UTF8.GetByteCount(option);
    }

    /// <returns>The index of the option with the highest <see cref="NormalisedScore"/>.</returns>
    public static int Choose(IReadOnlyList<string> options, IReadOnlyList<double> logLikelihoods)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logLikelihoods);
        if (options.Count == 0 || options.Count != logLikelihoods.Count)
            throw new ArgumentException($"{logLikelihoods.Count} log-likelihoods for {options.Count} options");
        var best = 0;
        var bestScore = double.NegativeInfinity;
        for (var i = 0; i < options.Count; i++)
        {
            var score = NormalisedScore(logLikelihoods[i], options[i]);
            if (score > bestScore)
                (best, bestScore) = (i, score);
        }
        return best;
    }

    /// <summary>Every item scored in one call to <paramref name="scorer"/> (so it can batch), then counted per direction and domain.</summary>
    public static MultipleChoiceResult Evaluate(IReadOnlyList<ChoiceItem> items, IContinuationScorer scorer)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(scorer);
        var requests = items.SelectMany(item => item.Options.Select(o => new Continuation(item.Prompt, o))).ToList();
        var scores = scorer.LogLikelihoods(requests);
        if (scores.Count != requests.Count)
            throw new InvalidOperationException($"the scorer returned {scores.Count} scores for {requests.Count} continuations");

        var directions = new List<DirectionResult>();
        foreach (var direction in Enum.GetValues<ChoiceDirection>())
        {
            var byDomain = new SortedDictionary<string, ProportionEstimate>(StringComparer.Ordinal);
            var skipped = 0;
            var offset = 0;
            foreach (var item in items)
            {
                var itemScores = Enumerable.Range(offset, item.Options.Count).Select(i => scores[i]).ToList();
                offset += item.Options.Count;
                if (item.Direction != direction)
                    continue;
                if (itemScores.Any(s => s is null))
                {
                    skipped++;
                    continue;
                }
                var correct = Choose(item.Options, itemScores.Select(s => s!.Value).ToList()) == item.Answer ? 1 : 0;
                byDomain[item.Domain] = (byDomain.GetValueOrDefault(item.Domain) ?? new ProportionEstimate(0, 0)) + new ProportionEstimate(correct, 1);
            }
            var total = byDomain.Values.Aggregate(new ProportionEstimate(0, 0), (a, b) => a + b);
            directions.Add(new DirectionResult(direction, total, byDomain, skipped));
        }
        return new MultipleChoiceResult(directions);
    }
}
