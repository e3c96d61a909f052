using Federated.Training.Evaluation;

namespace Federated.Training.Tests.Evaluation;

public class MultipleChoiceScorerTests
{
    /// <summary>A scoring function whose log-likelihoods the test sets: (prompt, option) -> nats, or null for "does not fit".</summary>
    sealed class StubScorer(Dictionary<(string, string), double?> logLikelihoods) : IContinuationScorer
    {
        public int Calls { get; private set; }

        public IReadOnlyList<double?> LogLikelihoods(IReadOnlyList<Continuation> continuations)
        {
            Calls++;
            return continuations.Select(c => logLikelihoods[(c.Prompt, c.Text)]).ToList();
        }
    }

    [Fact]
    public void The_choice_is_the_highest_log_likelihood_per_byte_not_the_highest_log_likelihood()
    {
        // Bytes: "ab" 2, "abcd" 4, "x" 1, "né" 3 (é is two bytes in UTF-8).
        // Per byte: -3.0/2 = -1.5, -4.4/4 = -1.1, -1.2/1 = -1.2, -3.6/3 = -1.2: option 1 wins, though "x" has the highest raw -1.2.
        string[] options = ["ab", "abcd", "x", "né"];
        double[] logLikelihoods = [-3.0, -4.4, -1.2, -3.6];

        Assert.Equal(1, MultipleChoiceScorer.Choose(options, logLikelihoods));
        Assert.Equal(-1.2, MultipleChoiceScorer.NormalisedScore(-3.6, "né"), 12);
        Assert.Equal(-1.1, MultipleChoiceScorer.NormalisedScore(-4.4, "abcd"), 12);
    }

    [Fact]
    public void Accuracy_is_counted_per_direction_and_domain_with_skipped_items_left_out_of_both()
    {
        var w2d = ChoiceDirection.WordToDefinition;
        var d2w = ChoiceDirection.DefinitionToWord;
        ChoiceItem[] items =
        [
            new("noun.animal", w2d, "p1", ["aa", "bbbb"], 0), // -2/2 = -1 vs -6/4 = -1.5: chooses 0, right
            new("noun.animal", w2d, "p2", ["aa", "bbbb"], 0), // -4/2 = -2 vs -4/4 = -1: chooses 1, wrong
            new("noun.food", w2d, "p3", ["c", "dd"], 1),      // -1/1 = -1 vs -1/2 = -0.5: chooses 1, right
            new("noun.food", w2d, "p4", ["c", "dd"], 1),      // an option does not fit: skipped
            new("noun.food", d2w, "p5", ["e", "f"], 1),       // -2 vs -1: chooses 1, right
        ];
        var scorer = new StubScorer(new()
        {
            [("p1", "aa")] = -2, [("p1", "bbbb")] = -6,
            [("p2", "aa")] = -4, [("p2", "bbbb")] = -4,
            [("p3", "c")] = -1, [("p3", "dd")] = -1,
            [("p4", "c")] = -1, [("p4", "dd")] = null,
            [("p5", "e")] = -2, [("p5", "f")] = -1,
        });

        var result = MultipleChoiceScorer.Evaluate(items, scorer);

        Assert.Equal(1, scorer.Calls); // one call, so a model can batch every option
        Assert.Equal(new ProportionEstimate(2, 3), result[w2d].Accuracy);
        Assert.Equal(1, result[w2d].Skipped);
        Assert.Equal(new ProportionEstimate(1, 2), result[w2d].ByDomain["noun.animal"]);
        Assert.Equal(new ProportionEstimate(1, 1), result[w2d].ByDomain["noun.food"]);
        Assert.Equal(new ProportionEstimate(1, 1), result[d2w].Accuracy);
        Assert.Equal(["noun.food"], result[d2w].ByDomain.Keys);
        Assert.Equal(0, result[d2w].Skipped);
    }

    /// <summary>
    /// Reference values from the Wilson formula evaluated with numpy:
    /// /usr/bin/python3 -c "import numpy as np; z=1.959963984540054; k,n=63,200; p=k/n; d=1+z*z/n; c=(p+z*z/(2*n))/d;
    ///   h=z/d*np.sqrt(p*(1-p)/n+z*z/(4*n*n)); print(repr(c-h), repr(c+h))"
    /// </summary>
    [Theory]
    [InlineData(63, 200, 0.2546232099022851, 0.3823495608573036)]
    [InlineData(3, 5, 0.2307242812760128, 0.882379225767352)]
    [InlineData(0, 10, 0.0, 0.2775327998628892)]
    [InlineData(10, 10, 0.7224672001371107, 1.0)]
    public void The_95_percent_Wilson_interval_matches_a_worked_example(int correct, int total, double lower, double upper)
    {
        var estimate = new ProportionEstimate(correct, total);

        Assert.Equal(lower, estimate.Lower, 12);
        Assert.Equal(upper, estimate.Upper, 12);
        Assert.InRange(estimate.Value, estimate.Lower, estimate.Upper);
    }

    [Fact]
    public void A_proportion_without_trials_has_no_value_and_no_interval()
    {
        var empty = new ProportionEstimate(0, 0);

        Assert.True(double.IsNaN(empty.Value));
        Assert.True(double.IsNaN(empty.Lower) && double.IsNaN(empty.Upper));
    }
}
