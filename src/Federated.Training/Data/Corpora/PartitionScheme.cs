using System.Globalization;

namespace Federated.Training.Data.Corpora;

/// <summary>How the examples left after the global hold-out are spread over clients (see <see cref="Partitioning"/>).</summary>
public abstract record PartitionScheme
{
    PartitionScheme() { }

    /// <summary>Whole domains per client when there are at least as many domains as clients, else each domain split among several clients.</summary>
    public sealed record Natural : PartitionScheme
    {
        public override string ToString() => "natural";
    }

    /// <summary>Each client's domain mix drawn from a Dirichlet; small alpha is skewed, large alpha approaches IID.</summary>
    public sealed record Dirichlet : PartitionScheme
    {
        public Dirichlet(double alpha)
        {
            if (!(alpha > 0) || double.IsPositiveInfinity(alpha))
                throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be positive and finite");
            Alpha = alpha;
        }

        public double Alpha { get; }

        public override string ToString() => $"dirichlet:{Alpha.ToString("R", CultureInfo.InvariantCulture)}";
    }

    /// <summary>A uniform shuffle cut into equal parts.</summary>
    public sealed record Iid : PartitionScheme
    {
        public override string ToString() => "iid";
    }

    /// <summary>Reads <c>natural</c>, <c>iid</c> or <c>dirichlet:ALPHA</c> (as written by <see cref="object.ToString"/>).</summary>
    /// <exception cref="FormatException">Not one of those.</exception>
    public static PartitionScheme Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim().ToLowerInvariant();
        if (trimmed == "natural")
            return new Natural();
        if (trimmed == "iid")
            return new Iid();
        if (trimmed.StartsWith("dirichlet:", StringComparison.Ordinal)
            && double.TryParse(trimmed["dirichlet:".Length..], NumberStyles.Float, CultureInfo.InvariantCulture, out var alpha)
            && alpha > 0 && !double.IsPositiveInfinity(alpha))
            return new Dirichlet(alpha);
        throw new FormatException($"'{text}' is not a partition scheme: expected natural, iid or dirichlet:ALPHA (ALPHA > 0)");
    }
}
