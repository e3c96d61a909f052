namespace Federated.Training.Evaluation;

/// <summary>A text to score as the continuation of a prompt.</summary>
public sealed record Continuation(string Prompt, string Text);

/// <summary>What a language model says of continuations: the seam between the multiple-choice arithmetic and a model.</summary>
public interface IContinuationScorer
{
    /// <returns>
    /// Per continuation, in order: the summed log-probability (nats) of its tokens given the prompt; null when the
    /// prompt and continuation do not fit the model.
    /// </returns>
    IReadOnlyList<double?> LogLikelihoods(IReadOnlyList<Continuation> continuations);
}
