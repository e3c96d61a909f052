namespace Federated.Training.Evaluation;

/// <summary>Which way a WordNet multiple-choice item asks: the options are definitions, or they are words.</summary>
public enum ChoiceDirection
{
    /// <summary>The prompt names a word (with its synonyms, as in training); the options are definitions.</summary>
    WordToDefinition,

    /// <summary>The prompt gives a definition; the options are words (each synset's first word).</summary>
    DefinitionToWord,
}

/// <summary>One multiple-choice question: the model scores each option as the continuation of <see cref="Prompt"/>.</summary>
/// <param name="Domain">The answer's domain (a WordNet lexicographer file): accuracy is reported per domain too.</param>
/// <param name="Answer">The index of the correct option.</param>
public sealed record ChoiceItem(string Domain, ChoiceDirection Direction, string Prompt, IReadOnlyList<string> Options, int Answer)
{
    public string CorrectOption => Options[Answer];
}
