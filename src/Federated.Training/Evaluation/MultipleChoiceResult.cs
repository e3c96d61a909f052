namespace Federated.Training.Evaluation;

/// <summary>Accuracy in one direction, over all items and per domain, each with its 95% Wilson interval.</summary>
/// <param name="Skipped">Items left out because an option did not fit the model's context.</param>
public sealed record DirectionResult(ChoiceDirection Direction, ProportionEstimate Accuracy, IReadOnlyDictionary<string, ProportionEstimate> ByDomain, int Skipped);

/// <summary>The WordNet multiple-choice metric: one <see cref="DirectionResult"/> per direction, in enum order.</summary>
public sealed record MultipleChoiceResult(IReadOnlyList<DirectionResult> Directions)
{
    public DirectionResult this[ChoiceDirection direction] => Directions.Single(d => d.Direction == direction);

    /// <summary>"word-to-definition" or "definition-to-word": names in files and JSON.</summary>
    public static string Key(ChoiceDirection direction) => direction switch
    {
        ChoiceDirection.WordToDefinition => "word-to-definition",
        _ => "definition-to-word",
    };

    /// <summary>"word -> definition" or "definition -> word": names in tables and console lines.</summary>
    public static string Label(ChoiceDirection direction) => direction switch
    {
        ChoiceDirection.WordToDefinition => "word -> definition",
        _ => "definition -> word",
    };
}
